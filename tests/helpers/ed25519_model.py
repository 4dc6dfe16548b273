#!/usr/bin/env python3
"""Independent model of shim/ed25519.c's subgroup test, in Python integers.

  ed25519_model.py vectors   the torsion_cosets table of tests/unit/test_ed25519.c
  ed25519_model.py check [N] the fast test's steps against [l]P on N points of
                             each of the 8 torsion cosets (default 50), and the
                             halving identities with sympy (if installed)

Not run by make check (slow, and sympy is optional): it is how the table and
the formulas in omx_ed25519_key_check were obtained and can be re-checked.
"""
import hashlib
import random
import sys

p = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
d = -121665 * pow(121666, p - 2, p) % p
I = pow(2, (p - 1) // 4, p)  # sqrt(-1)


def inv(a):
    return pow(a, p - 2, p)


def sqrt(a):
    a %= p
    r = pow(a, (p + 3) // 8, p)
    if r * r % p == a:
        return r
    if r * r % p == p - a:
        return r * I % p
    return None


def add(P, Q):  # affine twisted Edwards, a = -1 (complete)
    (x1, y1), (x2, y2) = P, Q
    t = d * x1 * x2 * y1 * y2 % p
    return ((x1 * y2 + x2 * y1) * inv(1 + t) % p, (y1 * y2 + x1 * x2) * inv(1 - t) % p)


O = (0, 1)


def mul(n, P):
    R = O
    while n:
        if n & 1:
            R = add(R, P)
        P = add(P, P)
        n >>= 1
    return R


def decode(h):
    b = bytes.fromhex(h)
    y = int.from_bytes(b, 'little') & (2**255 - 1)
    x = sqrt((y * y - 1) * inv(d * y * y + 1))
    if x is None:
        return None
    if x & 1 != b[31] >> 7:
        x = (p - x) % p
    return (x, y)


def encode(P):
    b = bytearray(P[1].to_bytes(32, 'little'))
    b[31] |= (P[0] & 1) << 7
    return b.hex()


B = decode("5866666666666666666666666666666666666666666666666666666666666666")
T8 = decode("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
TORSION = [O]
for _ in range(7):
    TORSION.append(add(TORSION[-1], T8))


def vectors():
    keys = [decode("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"),
            decode("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")]
    for i in range(2):
        s = int.from_bytes(hashlib.sha3_256(b"coset/%d" % i).digest(), 'little')
        keys.append(mul(s, B))
    for P in keys:
        assert mul(L, P) == O
        row = [encode(add(P, T)) for T in TORSION]
        print('\t{ ' + ',\n\t  '.join('"%s"' % r for r in row) + ' },')


# The constants of ed25519.c and its test, step by step (see the comment
# above omx_ed25519_key_check).
K = sqrt(1 + d)
C = sqrt(-486664)
V4 = sqrt(486664)
SQRT_MI_D = sqrt(-I * inv(d))
SQRT_I_D = sqrt(I * inv(d))


def sqrt_ratio(a, b):
    """R and k with b R^2 = i^k a, as fe_sqrt_ratio."""
    r = a * pow(b, 3, p) * pow(a * pow(b, 7, p), (p - 5) // 8, p) % p
    check = b * r * r % p
    for k, want in enumerate((a, I * a, -a, -I * a)):
        if check == want % p:
            return r, k
    raise ValueError("b = 0")


def fast_in_subgroup(P):
    x, y = P
    if x == 0 or y == 0:
        return False
    u, v = (y * y - 1) % p, (d * y * y + 1) % p
    a, ka = sqrt_ratio(u, 1)
    b, kb = sqrt_ratio(v, 1)
    assert ka % 2 == kb % 2  # on the curve
    if ka % 2:
        return False
    a = a * I % p if ka == 2 else a
    b = b * I % p if kb == 2 else b
    den, n = (b + K) % p, (b + K * y) % p
    t, kt = sqrt_ratio(n, den)
    if kt % 2:
        z, t, den = t, SQRT_MI_D if kt == 1 else SQRT_I_D, (K - b) % p
    else:
        z, t = 1, t * I % p if kt == 2 else t
    f = (z + t) * pow(z - t, 3, p) * pow((C * t * den - V4 * a * z) * a * z, 2, p) % p
    return pow(f, (p - 1) // 4, p) == 1


def check(n):
    bad = 0
    for _ in range(n):
        while True:
            y = random.randrange(p)
            x = sqrt((y * y - 1) * inv(d * y * y + 1))
            if x is not None:
                break
        P0 = mul(8, (x, y))  # in the subgroup of order l
        for k, T in enumerate(TORSION):
            P = add(P0, T)
            for Q in (P, ((p - P[0]) % p, P[1])):
                if fast_in_subgroup(Q) != (k == 0) or (mul(L, Q) == O) != (k == 0):
                    bad += 1
    print("%d points x 8 cosets x 2 signs: %d wrong" % (n, bad))
    try:
        from sympy import symbols, together, fraction, groebner, expand, reduced
    except ImportError:
        print("sympy not installed: halving identities not checked")
        return bad
    a, b, y, k, dd = symbols('a b y k d')
    G = list(groebner([a**2 - (y**2 - 1), b**2 - (dd * y**2 + 1), k**2 - (1 + dd)],
                      a, b, k, y, dd, order='lex'))

    def zero(e):
        num, _ = fraction(together(e))
        return reduced(expand(num), G, a, b, k, y, dd, order='lex')[1] == 0
    tau, m = (b + k * y) / (b + k), a / (b + k)  # t^2 and x1 y1 of the half Q
    x1sq = m**2 / tau
    for name, e in (("Q is on the curve", -x1sq + tau - 1 - dd * x1sq * tau),
                    ("x(2Q) = a/b", 2 * m / (tau - x1sq) - a / b),
                    ("y(2Q) = y", (tau + x1sq) / (2 - tau + x1sq) - y),
                    ("t^2 for b and -b multiply to -1/d",
                     tau * (k * y - b) / (k - b) + 1 / dd)):
        ok = zero(e)
        bad += not ok
        print("%s: %s" % (name, "proved" if ok else "FAILS"))
    return bad


if __name__ == '__main__':
    if sys.argv[1:2] == ['vectors']:
        vectors()
    elif sys.argv[1:2] == ['check']:
        sys.exit(1 if check(int(sys.argv[2]) if len(sys.argv) > 2 else 50) else 0)
    else:
        print(__doc__)
        sys.exit(2)
