import PGConnect
