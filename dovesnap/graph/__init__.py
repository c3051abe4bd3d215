"""The topology of dovesnap networks: facts, graph model, rendering, ``dovesnap graph``."""
