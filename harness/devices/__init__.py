"""Step 3 of the pipeline: the devices a run measures on — this host, Android phones over ADB.

``base.Device`` is what every kind offers the executor; ``registry`` opens devices by alias
and kind; ``gate`` is the thermal gate any kind can plug in.
"""
