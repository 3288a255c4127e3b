// libFuzzer target: the frame reader and decoder must reject any input cleanly.
#include "wire/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    mrd::wire::FrameReader reader;
    reader.append(reinterpret_cast<const char*>(data), size);
    for (;;) {
        auto frame = reader.next();
        if (!frame || !frame->has_value()) break;
        auto envelope = mrd::wire::decode(**frame);
        if (envelope) (void)mrd::wire::encode(*envelope);  // whatever decodes must re-encode
    }
    (void)mrd::wire::decode({reinterpret_cast<const char*>(data), size});
    return 0;
}
