/* A product build's use of an edgeopt C export: one inference on a zero input, the class printed.
 * Build with the Makefile or CMakeLists.txt beside this file (MODEL_DIR: the export folder). */
#include <stdio.h>
#include <stdint.h>
#include "model.h"

static uint8_t arena[MODEL_ARENA_BYTES] __attribute__((aligned(4)));  /* one per concurrent inference */

int main(void) {
    model_input_t input[MODEL_INPUT_SIZE];  /* int8_t, or int16_t for a model with int16 activations */
    int32_t logits[MODEL_OUTPUT_SIZE];
    int i, best = 0;
    for (i = 0; i < MODEL_INPUT_SIZE; i++) input[i] = (model_input_t)MODEL_INPUT_ZERO_POINT;  /* a real 0.0 everywhere */
    model_run(input, logits, arena);
    for (i = 1; i < MODEL_OUTPUT_SIZE; i++) if (logits[i] > logits[best]) best = i;
    printf("class %d\n", best);
    return 0;
}
