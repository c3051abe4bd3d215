"""DHCP networks (SPEC 6): a udhcpc per container, in its network namespace, run by dovesnap.

``plan`` decides argv, environment, file names and what a client's report means; ``clients``
starts, adopts and signals the processes; ``events`` reads the clients' reports from a FIFO;
``container_netns`` finds a container's namespace and interface; ``hooks`` ties them to the
driver's endpoint life cycle.
"""
