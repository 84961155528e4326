// Flockwatch launcher for the codelibs OpenSearch runner (single-file program: `java -cp
// 'infra/target/opensearch-libs/*' infra/opensearch/FlockwatchOpenSearch.java <runner args>`, compiled in
// memory at start; needs a JDK, not just a JRE).  Started by services/flockwatch/local_services.py.
//
// Why not the runner's own main (org.codelibs.opensearch.runner.OpenSearchRunner):
//  * it probes ports and silently moves node i to the next free port when baseHttpPort+i is taken,
//    and refuses any port above 9299; maxHttpPort = -1 makes it bind exactly baseHttpPort+i or fail;
//  * it forces node.roles = [cluster_manager, data] (no ingest pipelines); we add "ingest";
//  * it names each node "Node <i>", ignoring node.name in opensearch.yml; -Dflockwatch.node.name sets it;
//  * it swallows startup exceptions (System.exit(1) with no message); we print them.
// All other settings come from <confPath>/opensearch.yml, written by local_services.py.

import java.io.IOException;

import org.codelibs.opensearch.runner.OpenSearchRunner;

public final class FlockwatchOpenSearch {
    private FlockwatchOpenSearch() {
    }

    public static void main(final String[] args) throws InterruptedException {
        final OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1);
        // The runner names every node "Node <i>" whatever opensearch.yml says; a node of a multi-JVM cluster needs
        // its own name (cluster.initial_cluster_manager_nodes lists them), passed as -Dflockwatch.node.name.
        final String nodeName = System.getProperty("flockwatch.node.name");
        runner.onBuild((index, builder) -> {
            builder.putList("node.roles", "cluster_manager", "data", "ingest");
            if (nodeName != null) {
                builder.put("node.name", nodeName);
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (final IOException e) {
                e.printStackTrace();
            }
        }));
        try {
            runner.build(args);
        } catch (final RuntimeException e) {
            e.printStackTrace();
            System.exit(1);
        }
        while (!runner.isClosed()) {
            Thread.sleep(1000);
        }
    }
}
