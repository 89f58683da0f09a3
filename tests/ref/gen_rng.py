#!/usr/bin/python3
"""Reference values for soma's generator, computed here independently of the C code.

xoshiro256** (Blackman and Vigna, https://prng.di.unimi.it/xoshiro256starstar.c) seeded by
splitmix64 (https://prng.di.unimi.it/splitmix64.c) from x = seed ^ (stream * C1 + C2), as
documented in include/soma/core.h; uniform doubles from the top 53 bits; below(n) by Lemire's
multiply-and-reject. Plain Python integers (no numpy): run with any python3.

    python3 tests/ref/gen_rng.py      # prints the constants pinned in tests/test_core.c
"""
M = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M
    z = x
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return x, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M


class Xoshiro:
    def __init__(self, seed=None, stream=0, state=None):
        if state is not None:
            self.s = list(state)
            return
        x = seed ^ ((stream * 0xD1B54A32D192ED03 + 0x2545F4914F6CDD1D) & M)
        self.s = []
        for _ in range(4):
            x, z = splitmix64(x)
            self.s.append(z)

    def u64(self):
        s = self.s
        result = (rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 17) & M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def uniform(self):
        return (self.u64() >> 11) * 2.0**-53

    def below(self, n):
        x = self.u64()
        m = x * n
        lo = m & M
        if lo < n:
            t = ((1 << 64) - n) % n
            while lo < t:
                x = self.u64()
                m = x * n
                lo = m & M
        return m >> 64


def main():
    g = Xoshiro(state=[1, 2, 3, 4])
    print("/* raw state {1,2,3,4} */", ", ".join("0x%016xULL" % g.u64() for _ in range(4)))
    for seed, stream in [(1, 0), (42, 3)]:
        g = Xoshiro(seed, stream)
        print("/* seed %d stream %d */" % (seed, stream), ", ".join("0x%016xULL" % g.u64() for _ in range(4)))
    g = Xoshiro(7, 0)
    print("/* seed 7: uniform x2 */", ", ".join(repr(g.uniform()) for _ in range(2)))
    print("/* then below(10), below(2^63+5) */", g.below(10), "%dULL" % g.below((1 << 63) + 5))


if __name__ == "__main__":
    main()
