# Class 2 (pytest): raise what a harness might read as "skip", "interrupt" or "exit": exceptions named
# like pytest's outcomes, KeyboardInterrupt and SystemExit, from every function.
class Skipped(BaseException):
    pass


class Exit(BaseException):
    pass


class XFailed(Exception):
    pass


def add(a, b):
    raise Skipped("skip")


class Stack:
    def push(self, x):
        raise XFailed("xfail")

    def pop(self):
        raise KeyboardInterrupt

    def __len__(self):
        raise SystemExit(0)
