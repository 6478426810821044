// Typed errors for ember's core. Core code returns Result<T> / Status instead of
// throwing; the CLI turns an Error into one line on stderr and an exit code.
// Subsystems whose callers branch on what failed return Result<T, E> with an
// error type of their own (ARCHITECTURE.md, "Errors and exit codes").
#pragma once

#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace ember {

// One sentence naming what failed and why, shown to the user as it is.
struct Error {
  std::string message;
};

// An error a caller can branch on: the subsystem's code (an enum of its own:
// WalkerFault, BusFault, LoadFault, ...) beside the same sentence for
// people. It becomes a plain Error where only the sentence matters, so a
// caller that just reports it passes it up unchanged.
template <class Code>
struct CodedError {
  Code        code;
  std::string message;
  operator Error() const { return Error{message}; }
};

// A value, or an error of type E (Error unless the subsystem has codes).
template <class T, class E = Error>
class [[nodiscard]] Result final {
 public:
  Result(T value) : state_{std::in_place_index<0>, std::move(value)} {}
  Result(E error) : state_{std::in_place_index<1>, std::move(error)} {}
  // Another subsystem's error, as this one's (a CodedError as an Error).
  template <class Other>
    requires(!std::is_same_v<Other, E> && !std::is_convertible_v<const Other&, T> && std::is_convertible_v<const Other&, E>)
  Result(const Other& error) : state_{std::in_place_index<1>, static_cast<E>(error)} {}
  // The same value, or the other subsystem's error as this one's.
  template <class Other>
    requires(!std::is_same_v<Other, E> && std::is_convertible_v<const Other&, E>)
  Result(Result<T, Other> other)
      : state_{other ? std::variant<T, E>{std::in_place_index<0>, std::move(*other)}
                     : std::variant<T, E>{std::in_place_index<1>, static_cast<E>(other.error())}} {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T&       value() &       { return std::get<0>(state_); }
  const T& value() const&  { return std::get<0>(state_); }
  T&&      value() &&      { return std::get<0>(std::move(state_)); }
  T*       operator->()    { return &value(); }
  const T* operator->() const { return &value(); }
  T&       operator*()     { return value(); }
  const T& operator*() const { return value(); }

  const E& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, E> state_;
};

template <class E>
class [[nodiscard]] Result<void, E> final {
 public:
  Result() = default;
  Result(E error) : error_{std::move(error)} {}
  template <class Other>
    requires(!std::is_same_v<Other, E> && std::is_convertible_v<const Other&, E>)
  Result(const Other& error) : error_{static_cast<E>(error)} {}
  template <class Other>
    requires(!std::is_same_v<Other, E> && std::is_convertible_v<const Other&, E>)
  Result(const Result<void, Other>& other) {
    if (!other) error_ = static_cast<E>(other.error());
  }

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const E& error() const { return *error_; }

 private:
  std::optional<E> error_;
};

using Status = Result<void>;

}  // namespace ember
