import HTTP1
import MesherBase
import NIOCore
import Testing

@testable import Proxy

/// Trace context for one hop: continue the caller's trace (W3C first, then B3), else start one.
struct HopTraceTests {
    func head(_ fields: String) throws -> HTTP1Head {
        var parser = HTTP1HeadParser(role: .request, limits: ProxySettings().httpLimits)
        var buffer = ByteBuffer(string: "GET / HTTP/1.1\r\nHost: a\r\n\(fields)\r\n")
        guard case .head(let parsed) = parser.parse(&buffer) else { throw ChannelError.inappropriateOperationForState }
        return parsed
    }

    func written(_ trace: HopTrace) -> String {
        var out = ByteBuffer()
        trace.write(to: &out)
        return String(buffer: out)
    }

    @Test func continuesAW3CTraceWithItsOwnSpan() throws {
        var ids = FastRandom()
        let trace = HopTrace(
            request: try head(
                "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\ntracestate: congo=t61rcWkgMzE\r\n"
            ),
            ids: &ids)
        #expect("\(trace.context.traceID)" == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(trace.parent.map { "\($0)" } == "00f067aa0ba902b7")
        #expect("\(trace.context.spanID)" != "00f067aa0ba902b7")
        let out = written(trace)
        #expect(out.hasPrefix("traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-\(trace.context.spanID)-01\r\n"))
        #expect(out.contains("tracestate: congo=t61rcWkgMzE\r\n"))
        #expect(!out.contains("x-b3-"), "no B3 unless the caller used it")
    }

    @Test func startsATraceWhenThereIsNoneOrItIsInvalid() throws {
        var ids = FastRandom()
        for fields in [
            "", "traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01\r\n", "traceparent: x\r\n",
        ] {
            let trace = HopTrace(request: try head(fields), ids: &ids)
            #expect(trace.parent == nil && trace.context.flags.contains(.sampled))
            #expect("\(trace.context.traceID)" != "00000000000000000000000000000000")
        }
        let first = HopTrace(request: try head(""), ids: &ids)
        let second = HopTrace(request: try head(""), ids: &ids)
        #expect(first.context.traceID != second.context.traceID && first.context.spanID != second.context.spanID)
    }

    /// W3C Trace Context §3.2.4: a later version is continued by its first four fields, with the sampled flag
    /// alone; version `ff`, version 00 with more fields and anything but a dash behind the flags are not.
    @Test func continuesALaterVersionByItsFirstFourFields() throws {
        var ids = FastRandom()
        let ids4 = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"
        for (value, flags) in [
            ("01-\(ids4)-01-extra", "01"), ("01-\(ids4)-01", "01"), ("cc-\(ids4)-03-what-comes-next", "01"),
            ("02-\(ids4)-02-x", "00"),
        ] {
            let trace = HopTrace(request: try head("traceparent: \(value)\r\n"), ids: &ids)
            #expect(trace.parent.map { "\($0)" } == "00f067aa0ba902b7", "\(value)")
            #expect(
                written(trace).hasPrefix(
                    "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-\(trace.context.spanID)-\(flags)\r\n"),
                "\(value)")
        }
        for value in [
            "ff-\(ids4)-01", "ff-\(ids4)-01-extra", "00-\(ids4)-01-extra", "01-\(ids4)-01extra", "01-\(ids4)-0x-extra",
            "0A-\(ids4)-01-extra", "0g-\(ids4)-01", "01-\(ids4)-",
            "01-00000000000000000000000000000000-00f067aa0ba902b7-01-x",
            "01_\(ids4)-01-extra",
        ] {
            let trace = HopTrace(request: try head("traceparent: \(value)\r\n"), ids: &ids)
            #expect(trace.parent == nil, "\(value): a new trace")
        }
    }

    @Test func continuesB3AndWritesItOn() throws {
        var ids = FastRandom()
        let multi = HopTrace(
            request: try head("X-B3-TraceId: 463ac35c9f6413ad\r\nX-B3-SpanId: a2fb4a1d1a96d312\r\nX-B3-Sampled: 0\r\n"),
            ids: &ids)
        #expect("\(multi.context.traceID)" == "0000000000000000463ac35c9f6413ad")
        #expect(multi.parent.map { "\($0)" } == "a2fb4a1d1a96d312" && !multi.context.flags.contains(.sampled))
        let out = written(multi)
        #expect(out.contains("x-b3-traceid: 0000000000000000463ac35c9f6413ad\r\n"))
        #expect(out.contains("x-b3-spanid: \(multi.context.spanID)\r\nx-b3-parentspanid: a2fb4a1d1a96d312\r\n"))
        #expect(out.contains("x-b3-sampled: 0\r\n"))
        let single = HopTrace(
            request: try head("b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1\r\n"), ids: &ids)
        #expect("\(single.context.traceID)" == "80f198ee56343ba864fe8b2a57d3eff7")
        #expect(single.parent.map { "\($0)" } == "e457b5a2e4d86bd1")
    }

    /// The forwarded head carries this hop's fields instead of the caller's.
    @Test func theUpstreamHeadReplacesTheTraceFields() throws {
        var ids = FastRandom()
        let request = try head("traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nb3: 1-2\r\n")
        let trace = HopTrace(request: request, ids: &ids)
        let out = String(
            buffer: HTTPMessages.upstreamRequest(
                request, authority: "a", hops: 1, forwardedFor: nil, upgrade: false, trace: trace))
        #expect(out.components(separatedBy: "traceparent:").count == 2, "\(out)")
        #expect(!out.contains("00f067aa0ba902b7-01") && !out.contains("b3: 1-2"), "\(out)")
    }
}
