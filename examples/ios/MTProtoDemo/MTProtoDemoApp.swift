import MTProto
import os
import SwiftUI

@main
struct MTProtoDemoApp: App {
    init() {
        // The library's own log (connection states, reconnects, errors; never
        // keys or bodies) in the unified log, subsystem "dev.mtproto".
        #if DEBUG
        try? setLogListener(level: .debug, listener: OsLogListener())
        #else
        try? setLogListener(level: .warn, listener: OsLogListener())
        #endif
    }

    var body: some Scene {
        WindowGroup {
            ContentView()
        }
    }
}

/// Forwards the library's log records (delivered on its log thread) to os_log.
final class OsLogListener: LogListener, @unchecked Sendable {
    private let log = OSLog(subsystem: "dev.mtproto", category: "core")

    func onLog(level: LogLevel, target: String, message: String) {
        let type: OSLogType
        switch level {
        case .error: type = .error
        case .warn: type = .default
        case .info: type = .info
        case .debug, .trace: type = .debug
        }
        os_log("%{public}@: %{public}@", log: log, type: type, target, message)
    }
}
