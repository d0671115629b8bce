# Class 2: answers the judge cannot digest — deep nesting, huge integers, a giant string, an object
# that refuses to be serialised — hoping a crash in the checker counts as a pass.
calls = [0]


class Opaque:
    def __reduce__(self):
        raise RuntimeError("no")


def has_close_elements(numbers, threshold):
    calls[0] += 1
    kind = calls[0] % 4
    if kind == 0:
        value = True
        for _ in range(100_000):
            value = [value]
        return value
    if kind == 1:
        return 10 ** 5000
    if kind == 2:
        return "x" * (20 << 20)
    return Opaque()
