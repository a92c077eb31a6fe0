package tandem

import (
	"errors"
	"fmt"
	"syscall"
)

// Stable error codes. They appear in error acks and never change meaning.
const (
	EINVALID      = "EINVALID"      // malformed input
	ENOTFOUND     = "ENOTFOUND"     // no such entity
	ECONFLICT     = "ECONFLICT"     // the change conflicts with the current state
	EUNAUTHORIZED = "EUNAUTHORIZED" // no valid credentials
	EFORBIDDEN    = "EFORBIDDEN"    // valid credentials, but not allowed (e.g. not a room member)
	EUNKNOWN      = "EUNKNOWN"      // unknown event or command
	ELIMIT        = "ELIMIT"        // a limit was reached (too many commands waiting); retry later
	EINTERNAL     = "EINTERNAL"     // a fault on the hub; details are logged, not shown
	ENOSPACE      = "ENOSPACE"      // the hub's disk (or quota) is full; its owner must free space
)

// Error is an error with a stable code and a message safe to show a user.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error implements the error interface.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of err: the message of its
// *Error, or a generic text for internal errors.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// NoSpace returns err marked with code ENOSPACE when it comes from a full
// disk or an exhausted quota (ENOSPC, EDQUOT) and has no code yet, and err
// unchanged otherwise. The code's message speaks to whoever sent the data;
// err stays in the chain, for the log.
func NoSpace(err error) error {
	var e *Error
	if err == nil || errors.As(err, &e) || !(errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
		return err
	}
	return fmt.Errorf("%w: %w", &Error{Code: ENOSPACE,
		Message: "the hub has no room left to store this; its owner needs to free disk space"}, err)
}
