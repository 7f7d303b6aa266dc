"""The report: the JSON document (``document``) and its renderings (``files`` writes parity.json,
``markdown``, ``html`` with ``svg_charts``, ``terminal``, ``junit``), comparison with a baseline
(``baseline``), and merging of pytest-xdist workers' parts (``parts``)."""
