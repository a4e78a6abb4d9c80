"""oO contracts: the shapes that cross module and process boundaries.

Nothing here imports the server or ML code; both import this package.
"""
