"""Training losses shared by the search's trial loop and compression's fine-tuning."""

from __future__ import annotations


def distillation_loss(logits, labels, teacher_logits, temperature: float, alpha: float):
    """Hinton et al.: alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * cross-entropy on the labels."""
    import torch.nn.functional as F

    soft = F.kl_div(F.log_softmax(logits / temperature, dim=1), F.log_softmax(teacher_logits / temperature, dim=1),
                    reduction="batchmean", log_target=True)
    return alpha * temperature * temperature * soft + (1.0 - alpha) * F.cross_entropy(logits, labels)
