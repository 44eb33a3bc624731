"""SHA-256 as hex digits: `hashlib.sha256(data).hexdigest()`, through tpython's C module
(GNU Nettle's SHA-256): importing hashlib would load OpenSSL, milliseconds of every start-up."""
from tpython._native import sha256_hex as sha256_hex
