"""A real decentralised runtime: shards of a graph as Ray actors, each running its family's
own local rule on its own clock, exchanging stamped packets over faulty links."""

from ._deploy import Deployment as Deployment
from ._deploy import RunSettings as RunSettings
from ._deploy import partition as partition
from ._faults import Event as Event
from ._faults import Faults as Faults
from ._faults import parse_event as parse_event
from ._topology import Topology as Topology
from ._views import EdgeViews as EdgeViews
