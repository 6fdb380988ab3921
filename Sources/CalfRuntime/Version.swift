import CalfLoop
import CalfControl

/// The version of Calf.
public let version = "0.1.0"

/// The version of the libuv library Calf runs on.
public var libuvVersion: String { EventLoop.libuvVersion }
