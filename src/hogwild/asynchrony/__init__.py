"""Hogwild inference: partially asynchronous schedules, the simulator, the certificate."""

from ._certificate import Certificate as Certificate
from ._certificate import certify as certify
from ._certificate import safe_step as safe_step
from ._schedule import Schedule as Schedule
from ._schedule import reverse_edges as reverse_edges
from ._simulate import MAX_SIMULATION_BYTES as MAX_SIMULATION_BYTES
from ._simulate import AsyncTrace as AsyncTrace
from ._simulate import check_schedule as check_schedule
from ._simulate import check_simulation as check_simulation
from ._simulate import simulate as simulate
from ._simulate import simulation_bytes as simulation_bytes
