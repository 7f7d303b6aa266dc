"""The browser side: the aiohttp server on 127.0.0.1 (``server``, ``uploads``, ``slots``), the page
driver (``page``) in each engine's browser (``engines``, ``executables``, ``display``) launched here or on
a remote endpoint (``endpoints``), the backend ids and the facts each must show
(``backends``), the tfjs versions the page can load (``tfjs_versions``), and tensors between Python
and the page (``tensors``). Each page script in ``web/`` that has a Python twin shares its name."""
