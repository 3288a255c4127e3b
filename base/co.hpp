// Minimal coroutines for the supervisor's single-threaded event loop: a syscall handler is written
// straight-line (ask the agent, rewrite, run the syscall, fix up) while other tracees keep going.
//
//   Task<T>      lazy coroutine; co_await it from another Task, or spawn() it detached.
//   Promise<T>   one-shot value a coroutine waits on; set() resumes the waiter inline.
//
// GCC 12 caveat: a braced aggregate temporary with a non-trivial destructor inside a co_await
// expression (co_await f(Msg{..., std::string(...)})) is destroyed twice. Name such values first,
// or build them inside the awaited function. Likewise never put co_await inside ?: .
#pragma once

#include <coroutine>
#include <exception>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace mrd::co {

template <class T = void>
class Task;

namespace detail {

struct PromiseBase {
    std::coroutine_handle<> continuation;
    std::exception_ptr exception;
    bool detached = false;

    std::suspend_always initial_suspend() noexcept { return {}; }
    void unhandled_exception() { exception = std::current_exception(); }
};

void report_detached_exception(std::exception_ptr e);

template <class Promise>
struct FinalAwaiter {
    bool await_ready() noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<Promise> h) noexcept {
        auto& p = h.promise();
        if (p.detached) {
            if (p.exception) report_detached_exception(p.exception);
            h.destroy();
            return std::noop_coroutine();
        }
        return p.continuation ? p.continuation : std::noop_coroutine();
    }
    void await_resume() noexcept {}
};

}  // namespace detail

template <class T>
class [[nodiscard]] Task {
public:
    struct promise_type : detail::PromiseBase {
        std::optional<T> value;
        Task get_return_object() { return Task(std::coroutine_handle<promise_type>::from_promise(*this)); }
        detail::FinalAwaiter<promise_type> final_suspend() noexcept { return {}; }
        void return_value(T v) { value = std::move(v); }
    };

    Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    ~Task() { if (h_) h_.destroy(); }

    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
        h_.promise().continuation = awaiting;
        return h_;
    }
    T await_resume() {
        if (h_.promise().exception) std::rethrow_exception(h_.promise().exception);
        return std::move(*h_.promise().value);
    }
    std::coroutine_handle<promise_type> release() { return std::exchange(h_, {}); }

private:
    explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
    std::coroutine_handle<promise_type> h_;
};

template <>
class [[nodiscard]] Task<void> {
public:
    struct promise_type : detail::PromiseBase {
        Task get_return_object() { return Task(std::coroutine_handle<promise_type>::from_promise(*this)); }
        detail::FinalAwaiter<promise_type> final_suspend() noexcept { return {}; }
        void return_void() {}
    };

    Task(Task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    ~Task() { if (h_) h_.destroy(); }

    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
        h_.promise().continuation = awaiting;
        return h_;
    }
    void await_resume() {
        if (h_.promise().exception) std::rethrow_exception(h_.promise().exception);
    }
    std::coroutine_handle<promise_type> release() { return std::exchange(h_, {}); }

private:
    explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
    std::coroutine_handle<promise_type> h_;
};

// Starts a task that nobody awaits; it frees itself when done.
inline void spawn(Task<void> task) {
    auto h = task.release();
    h.promise().detached = true;
    h.resume();
}

template <class T>
class Promise {
public:
    Promise() : state_(std::make_shared<State>()) {}

    void set(T value) const {
        if (state_->value) return;  // first answer wins
        state_->value = std::move(value);
        if (auto waiter = std::exchange(state_->waiter, {})) waiter.resume();
    }
    bool ready() const { return state_->value.has_value(); }

private:
    struct State {
        std::optional<T> value;
        std::coroutine_handle<> waiter;
    };
    std::shared_ptr<State> state_;

public:
    struct Awaiter {
        std::shared_ptr<State> state;
        bool await_ready() const noexcept { return state->value.has_value(); }
        void await_suspend(std::coroutine_handle<> h) noexcept { state->waiter = h; }
        T await_resume() { return std::move(*state->value); }
    };
    Awaiter wait() const { return Awaiter{state_}; }
};

// A value many coroutines may wait for; each gets a copy.
template <class T>
class Shared {
public:
    Shared() : state_(std::make_shared<State>()) {}

    void set(T value) const {
        if (state_->value) return;
        state_->value = std::move(value);
        auto waiters = std::move(state_->waiters);
        for (auto h : waiters) h.resume();
    }

    struct State {
        std::optional<T> value;
        std::vector<std::coroutine_handle<>> waiters;
    };
    struct Awaiter {
        std::shared_ptr<State> state;
        bool await_ready() const noexcept { return state->value.has_value(); }
        void await_suspend(std::coroutine_handle<> h) { state->waiters.push_back(h); }
        T await_resume() { return *state->value; }
    };
    Awaiter wait() const { return Awaiter{state_}; }

private:
    std::shared_ptr<State> state_;
};

}  // namespace mrd::co
