"""The Keras side: where references come from and how they are stored.

A model source (a zoo builder in ``zoo``, or a user's file read by ``formats``) becomes a reference
directory (``directory``): the converted tfjs model (``conversions``), seeded inputs, Keras' outputs,
and Keras' side of the training checks (``training_runs``). ``zoo_build`` is the zoo's recipe,
``user_build`` a user's, ``cache`` keeps the zoo's by content hash. ``artifacts`` reads back models
the browser saved.
"""
