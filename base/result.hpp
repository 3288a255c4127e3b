// Errors carried with context instead of thrown: every fallible operation returns Result<T>.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace mrd {

struct Error {
    int code = 0;         // an errno value when the failure maps to one (it is what a tracee sees), else 0
    std::string message;  // what failed, with context, for humans

    static Error from_errno(std::string context, int err = errno) {
        return Error{err, std::move(context) + ": " + std::strerror(err)};
    }
    static Error msg(std::string message, int code = 0) { return Error{code, std::move(message)}; }
    // Prefixes more context: "loading config: parsing x.json: ..."
    Error context(const std::string& what) const { return Error{code, what + ": " + message}; }
};

template <class T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(Error error) : v_(std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    const Error& error() const { return std::get<1>(v_); }
    T value_or(T fallback) const { return ok() ? value() : fallback; }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), failed_(true) {}
    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return error_; }

private:
    Error error_;
    bool failed_ = false;
};

using Status = Result<void>;

}  // namespace mrd
