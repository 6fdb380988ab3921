import CLibUV

/// An error reported by libuv, with the operation that failed and libuv's own text.
public struct LoopError: Error, Equatable, CustomStringConvertible {
    /// The negative libuv error code (for example `UV_EBUSY`).
    public let code: Int32
    /// The libuv call or loop operation that failed.
    public let operation: String

    /// Creates an error for a libuv `code` returned by `operation`.
    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// libuv's name for the code, such as `EBUSY`.
    public var name: String { String(cString: uv_err_name(code)) }

    /// libuv's description of the code (`uv_strerror`).
    public var message: String { String(cString: uv_strerror(code)) }

    public var description: String { "\(operation) failed: \(message) (\(name))" }

    /// Throws a `LoopError` when `code` is negative, libuv's convention for failure.
    @discardableResult
    public static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(LoopError) -> Int32 {
        if code < 0 { throw LoopError(code: code, operation: operation()) }
        return code
    }
}

extension EventLoop {
    /// The version string of the libuv library in use.
    public static var libuvVersion: String { String(cString: uv_version_string()) }
}
