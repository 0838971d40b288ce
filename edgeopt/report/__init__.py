"""Reports: rich tables on the terminal (plots, HTML and Pareto tables come with the search)."""
