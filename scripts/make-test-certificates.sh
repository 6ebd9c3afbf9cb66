#!/usr/bin/env bash
# Creates the certificate files the integration tests load, in every format
# the tool reads, with the openssl command line (OpenSSL 3.0 or later).
#
# Usage: scripts/make-test-certificates.sh OUTDIR
# The password of the protected files comes from CERT_PASSWORD and is given
# to openssl through the environment, never on the command line.
set -euo pipefail

out=${1:?usage: make-test-certificates.sh OUTDIR}
: "${CERT_PASSWORD:?set CERT_PASSWORD to the password for the protected files}"
mkdir -p "$out"
cd "$out"
export CERT_PASSWORD

rsa_key() { openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"; }

# The app's certificate: a self-signed RSA certificate valid for 30 days.
rsa_key key.pem
openssl req -x509 -new -key key.pem -sha256 -days 30 -subj "/CN=entratool test app" -out cert.pem

# PEM: PKCS#8 key, PKCS#1 key and encrypted PKCS#8 key, in both orders.
openssl pkey -in key.pem -traditional -out key-pkcs1.pem
openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -passout env:CERT_PASSWORD -out key-encrypted.pem
cat cert.pem key.pem >pem-pkcs8.pem
cat cert.pem key-pkcs1.pem >pem-pkcs1.pem
cat cert.pem key-encrypted.pem >pem-encrypted.pem
cat key.pem cert.pem >pem-key-first.pem

# PKCS#12: OpenSSL 3 default (PBES2, AES-256-CBC, SHA-256 MAC), -legacy
# (RC2-40 and 3DES, SHA-1 MAC), empty password, and no encryption or MAC.
openssl pkcs12 -export -inkey key.pem -in cert.pem -passout env:CERT_PASSWORD -out default.pfx
openssl pkcs12 -export -legacy -inkey key.pem -in cert.pem -passout env:CERT_PASSWORD -out legacy.pfx
openssl pkcs12 -export -inkey key.pem -in cert.pem -passout pass: -out empty-password.pfx
openssl pkcs12 -export -inkey key.pem -in cert.pem -keypbe NONE -certpbe NONE -nomac \
  -passout pass: -out no-password.pfx

# A chain: a CA certificate and a leaf it signed, with the leaf's key.
rsa_key ca-key.pem
openssl req -x509 -new -key ca-key.pem -sha256 -days 30 -subj "/CN=entratool test CA" -out ca.pem
rsa_key leaf-key.pem
openssl req -new -key leaf-key.pem -subj "/CN=entratool test leaf" -out leaf.csr
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -sha256 -days 30 \
  -out leaf.pem
# CA first, so the tool must find the leaf by its key, not by position.
cat ca.pem leaf.pem leaf-key.pem >pem-chain.pem
openssl pkcs12 -export -inkey leaf-key.pem -in leaf.pem -certfile ca.pem \
  -passout env:CERT_PASSWORD -out chain.pfx

# An EC key, which the tool rejects by name.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec-key.pem \
  -sha256 -days 30 -subj "/CN=entratool test EC" -out ec-cert.pem
cat ec-cert.pem ec-key.pem >pem-ec.pem
openssl pkcs12 -export -inkey ec-key.pem -in ec-cert.pem -passout pass: -out ec.pfx

# A certificate with another key than the one in the file.
rsa_key other-key.pem
cat cert.pem other-key.pem >pem-mismatch.pem

# Expired and not yet valid certificates. `openssl ca` sets explicit dates
# on OpenSSL 3.0, where `req -x509` has no -not_before/-not_after.
mkdir -p ca-db
: >ca-db/index.txt
echo 1000 >ca-db/serial
cat >ca-db/ca.cnf <<CONF
[ ca ]
default_ca = test_ca
[ test_ca ]
database = ca-db/index.txt
serial = ca-db/serial
new_certs_dir = ca-db
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
CONF
openssl req -new -key key.pem -subj "/CN=entratool dated" -out dated.csr
openssl ca -batch -notext -config ca-db/ca.cnf -selfsign -keyfile key.pem -in dated.csr \
  -startdate 20200101000000Z -enddate 20210101000000Z -out expired-cert.pem
openssl ca -batch -notext -config ca-db/ca.cnf -selfsign -keyfile key.pem -in dated.csr \
  -startdate 20990101000000Z -enddate 21000101000000Z -out future-cert.pem
cat expired-cert.pem key.pem >pem-expired.pem
cat future-cert.pem key.pem >pem-future.pem

# DER copies of the registered certificates, for the test server.
openssl x509 -in cert.pem -outform DER -out cert.der
openssl x509 -in leaf.pem -outform DER -out leaf.der
openssl x509 -in cert.pem -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' >cert.sha1
