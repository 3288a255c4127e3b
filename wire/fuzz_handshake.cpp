// libFuzzer target: whatever a stranger sends to an agent's TCP port, the agent's side of the TLS
// handshake (OpenSSL with the pinning callback) refuses it cleanly and never accepts it.
#include "wire/tls_identity.hpp"

#include <openssl/ssl.h>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static auto agent = mrd::wire::TlsIdentity::generate("agent").value();
    static auto session = mrd::wire::TlsIdentity::generate("cli").value();
    static auto context = mrd::wire::pinned_tls_context(agent, session.fingerprint, true).value();
    SSL* ssl = SSL_new(context->native_handle());
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    SSL_set_bio(ssl, in, out);
    SSL_set_accept_state(ssl);
    BIO_write(in, data, static_cast<int>(size));
    BIO_set_mem_eof_return(in, 0);
    int r = SSL_do_handshake(ssl);
    if (r == 1) std::abort();  // only the session's key may complete it, and fuzz input has none
    SSL_free(ssl);
    return 0;
}
