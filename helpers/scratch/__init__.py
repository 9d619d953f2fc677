"""The from-scratch NumPy wing: layers, classifiers, solver, update rules, gradient checks (notebooks 01-05)."""
