"""The browser side: the aiohttp server (``server``, ``uploads``, ``slots``), the page as Python sees it
(``page``), the browsers that run it behind one protocol (``driver``; ``launch`` picks Playwright,
``playwright_driver``, or WebDriver, ``webdriver``) for each engine (``engines``, ``executables``,
``display``) here or on a remote endpoint (``endpoints``), the backend ids and the facts each must show
(``backends``), the tfjs versions the page can load (``tfjs_versions``), and tensors between Python
and the page (``tensors``). Each page script in ``web/`` that has a Python twin shares its name."""
