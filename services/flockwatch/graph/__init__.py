"""Spread graphs as plain functions over plain data (networkx style): reshare cascades and their shape
(``cascades``, ``cascade_metrics``, ``cascade_risk``), coordinated accounts (``coordination``, ``streaming``,
``significance``, ``clusters``), the text and URL keys they join on (``text``, ``urls``), and graph files
(``cascade_io``, ``toolkit_csv``, ``export``)."""
