"""Training and evaluation of the project's small models (``flockwatch train ...``). Not imported at run time:
the workers load the committed weights these commands wrote."""
