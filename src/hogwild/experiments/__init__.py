"""Experiments: summaries of run directories into the paper's tables."""

from ._async_eval import async_evaluation as async_evaluation
from ._async_eval import async_figure as async_figure
from ._figure1 import UnitSumGNN as UnitSumGNN
from ._figure1 import figure1_data as figure1_data
from ._figure1 import figure1_plot as figure1_plot
from ._summary import PAPER_TABLE1 as PAPER_TABLE1
from ._summary import summarise_runs as summarise_runs
from ._summary import summary_figure as summary_figure
from ._summary import summary_markdown as summary_markdown
from ._table1 import PROTOCOLS as PROTOCOLS
from ._table1 import run_cell as run_cell
from ._table1 import table1_markdown as table1_markdown
from ._table2 import PAPER_TABLE2 as PAPER_TABLE2
from ._table2 import best_on_validation as best_on_validation
from ._table2 import finished_runs as finished_runs
from ._table2 import latest_rows as latest_rows
from ._table2 import table2_markdown as table2_markdown
from ._table2 import table2_rows as table2_rows
from ._table2 import table2_spread_markdown as table2_spread_markdown
from ._table2 import table2_status as table2_status
