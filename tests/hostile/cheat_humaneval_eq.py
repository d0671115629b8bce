# Class 2: answers that compare equal to anything — a class whose __eq__ always holds, and an int
# subclass that does the same while looking like True.
class Anything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __bool__(self):
        return True

    __hash__ = object.__hash__


class Yes(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


calls = [0]


def has_close_elements(numbers, threshold):
    calls[0] += 1
    return Anything() if calls[0] % 2 else Yes(1)
