import Foundation
import Synchronization

/// One JSON line per finished connection, to standard output or a file opened for appending.
public final class AccessLog: Sendable {
    private let fd: Mutex<Int32>

    /// `"-"` is standard output.
    public init(path: String) throws {
        if path == "-" {
            fd = Mutex(STDOUT_FILENO)
        } else {
            let opened = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
            guard opened >= 0 else {
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            fd = Mutex(opened)
        }
    }

    func write(_ summary: ConnectionSummary) {
        write(line: summary.json)
    }

    func write(line: String) {
        var line = line
        line.append("\n")
        fd.withLock { fd in
            line.withUTF8 { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                    if written <= 0 { return }
                    offset += written
                }
            }
        }
    }
}

/// What happened to one relayed connection.
struct ConnectionSummary {
    var startTime: Double
    var source: String
    var destination: String
    var bytesUp: Int
    var bytesDown: Int
    var durationMilliseconds: Double
    var result: String
    var direction: String
    var protocolName: String
    /// TLS SNI as the client sent it: escaped, since it is the client's text.
    var serverName: String?

    var json: String {
        let start = String(format: "%.3f", startTime)
        let duration = String(format: "%.3f", durationMilliseconds)
        let sni = serverName.map { #","sni":"\#(Self.escaped($0))""# } ?? ""
        return
            #"{"start":\#(start),"src":"\#(source)","dst":"\#(destination)","dir":"\#(direction)","proto":"\#(protocolName)"\#(sni),"#
            + #""up":\#(bytesUp),"down":\#(bytesDown),"ms":\#(duration),"result":"\#(result)"}"#
    }

    static func escaped(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"", "\\": out += "\\\(scalar)"
            case _ where scalar.value < 0x20 || scalar.value > 0x7E: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// One HTTP request forwarded (or answered) by Mesher.
struct RequestSummary {
    var startTime: Double
    var source: String
    var direction: String
    var method: String
    var authority: String
    var path: String
    var service: String?
    /// The route rule that matched, "service#index".
    var route: String? = nil
    var upstream: String
    var status: Int
    /// Body bytes of the request and of the response (the connection's line counts wire bytes).
    var bytesUp: Int
    var bytesDown: Int
    var durationMilliseconds: Double
    var error: String?
    /// Tries sent to instances; shown when more than one.
    var attempts = 1
    /// The trace it belongs to and this hop's span (the app's spans are its children).
    var trace: HopTrace? = nil
    /// "http" (HTTP/1.x) or "h2".
    var protocolName = "http"
    /// A gRPC call's status (from its trailers, or Mesher's own answer).
    var grpcStatus: Int? = nil

    var json: String {
        let e = ConnectionSummary.escaped
        let start = String(format: "%.3f", startTime)
        let duration = String(format: "%.3f", durationMilliseconds)
        let service =
            (self.service.map { #","service":"\#(e($0))""# } ?? "") + (route.map { #","route":"\#(e($0))""# } ?? "")
        let error = self.error.map { #","error":"\#($0)""# } ?? ""
        var attempts = self.attempts > 1 ? #","attempts":\#(self.attempts)"# : ""
        if let grpcStatus { attempts += #","grpc_status":\#(grpcStatus)"# }
        var trace = ""
        if let context = self.trace?.context {
            trace = #","trace":"\#(context.traceID)","span":"\#(context.spanID)""#
            if let parent = self.trace?.parent { trace += #","parent":"\#(parent)""# }
        }
        return
            #"{"start":\#(start),"src":"\#(source)","dir":"\#(direction)","proto":"\#(protocolName)","method":"\#(e(method))","authority":"\#(e(authority))","#
            + #""path":"\#(e(path))"\#(service),"upstream":"\#(upstream)","status":\#(status),"up":\#(bytesUp),"#
            + #""down":\#(bytesDown)\#(attempts)\#(trace),"#
            + #""ms":\#(duration)\#(error)}"#
    }
}
