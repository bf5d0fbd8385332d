"""The show's bus: where the hub's decisions (the Director's and the operator's events) travel to the
frame loops that render them. In one process (``InProcessBus``, the default: exactly the single-machine
show) or through Redis (``RedisBus``: a hub and render nodes on several machines). See docs/cluster.md."""
