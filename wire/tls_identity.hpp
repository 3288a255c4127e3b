// Who is at each end of an agent link: a key pair made for the occasion (the CLI's per session, the
// agent's at start), a self-signed certificate for it, and the certificate's SHA-256 fingerprint,
// which is what the other end pins. Fingerprints are public: they travel in the agent's arguments
// and its ready line; the keys never leave their process.
#pragma once

#include "base/result.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <memory>
#include <string>

namespace mrd::wire {

struct TlsIdentity {
    std::string certificate_pem;
    std::string key_pem;
    std::string fingerprint;  // lowercase hex SHA-256 of the certificate's DER

    static Result<TlsIdentity> generate(const std::string& common_name);
};

// TLS 1.3 only, this identity presented, and the peer required to present the certificate whose
// fingerprint is `peer_fingerprint` (no CA: the pin is the trust).
Result<std::shared_ptr<asio::ssl::context>> pinned_tls_context(const TlsIdentity& self, const std::string& peer_fingerprint,
                                                               bool server);

// The fingerprint of a PEM certificate; empty if it is not one.
std::string certificate_fingerprint(const std::string& pem);

// The fingerprint of the certificate the peer presented in a completed handshake; empty if none.
std::string peer_fingerprint(SSL* ssl);

// 128 random bits in hex: a secret only its holder can present (a session's resume token, the
// ui's URL).
std::string random_token();

}  // namespace mrd::wire
