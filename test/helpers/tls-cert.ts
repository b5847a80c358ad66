// A self-signed certificate for rs.example (EC P-256, valid 2026-2126) and its key, for test TLS
// servers on 127.0.0.1 only (SSL_GET). Made with:
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
//     -subj "/CN=rs.example" -addext "subjectAltName=DNS:rs.example"
// Test-only: this key is public, never use it for anything else.

export const TEST_TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJBeHOb11iaDs06Y6
xwCJGwK/nV0ZVdxec/imRXzXh8ihRANCAAT7+FHDu1OmWt9vsaITZoabO64IyhPc
3X0TJ6+m84uNo4N+SoM1ZoKGuq1bU1xRqjaeieq8ZeACPR2DHLmx7LJr
-----END PRIVATE KEY-----
`;

export const TEST_TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBmDCCAT6gAwIBAgIUH9LD91IeOAhz6wE/Arv6J9WJt6EwCgYIKoZIzj0EAwIw
FTETMBEGA1UEAwwKcnMuZXhhbXBsZTAgFw0yNjEyMDIwMDI4NDdaGA8yMTI2MTEw
ODAwMjg0N1owFTETMBEGA1UEAwwKcnMuZXhhbXBsZTBZMBMGByqGSM49AgEGCCqG
SM49AwEHA0IABPv4UcO7U6Za32+xohNmhps7rgjKE9zdfRMnr6bzi42jg35KgzVm
goa6rVtTXFGqNp6J6rxl4AI9HYMcubHssmujajBoMB0GA1UdDgQWBBTZ/7Elbmoq
q+51xfXlvKIOVVG7ljAfBgNVHSMEGDAWgBTZ/7Elbmoqq+51xfXlvKIOVVG7ljAP
BgNVHRMBAf8EBTADAQH/MBUGA1UdEQQOMAyCCnJzLmV4YW1wbGUwCgYIKoZIzj0E
AwIDSAAwRQIhAJKHJMa5KXvyKW2ASgiGWvyZjMauV1rFou20UKm1xlKuAiAVNhW9
4K+qn6JxzWo+jLHcpgowwUIT/2kpQSxL0aAsnQ==
-----END CERTIFICATE-----
`;
