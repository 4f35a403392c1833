import Hummingbird
import Prometheus

@main
struct Exporter {
    static func main() async throws {}
}
