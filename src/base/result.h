// Typed errors for ember's core. Core code returns Result<T> / Status instead of
// throwing; the CLI turns an Error into one line on stderr and an exit code.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace ember {

// One sentence naming what failed and why, shown to the user as it is.
struct Error {
  std::string message;
};

template <class T>
class [[nodiscard]] Result final {
 public:
  Result(T value) : state_{std::in_place_index<0>, std::move(value)} {}
  Result(Error error) : state_{std::in_place_index<1>, std::move(error)} {}

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T&       value() &       { return std::get<0>(state_); }
  const T& value() const&  { return std::get<0>(state_); }
  T&&      value() &&      { return std::get<0>(std::move(state_)); }
  T*       operator->()    { return &value(); }
  const T* operator->() const { return &value(); }
  T&       operator*()     { return value(); }
  const T& operator*() const { return value(); }

  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> final {
 public:
  Result() = default;
  Result(Error error) : error_{std::move(error)} {}

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace ember
