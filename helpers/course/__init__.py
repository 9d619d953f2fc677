"""The course tooling: exercises and checks, hand-ins, PDF, Colab, the student copy, grading."""
