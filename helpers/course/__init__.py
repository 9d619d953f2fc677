"""The course tooling: exercises and their checks, hand-ins, PDF export, Colab (and, for whoever runs the course,
making the copy handed out and grading; see helpers/__init__.py)."""
