"""Experiments: summaries of run directories into the paper's tables."""

from ._async_eval import async_evaluation as async_evaluation
from ._async_eval import async_figure as async_figure
from ._summary import PAPER_TABLE1 as PAPER_TABLE1
from ._summary import summarise_runs as summarise_runs
from ._summary import summary_figure as summary_figure
from ._summary import summary_markdown as summary_markdown
