// Flockwatch launcher for a single Elasticsearch 7.17 node from Maven Central jars (single-file program:
// `java -cp 'infra/target/elasticsearch-libs/*' infra/elasticsearch/FlockwatchElasticsearch.java key=value...`,
// compiled in memory at start; needs a JDK, not just a JRE).  Started by services/flockwatch/local_services.py,
// which passes every node setting as a `key=value` argument (path.home, http.port, ...).
//
// Why a launcher: Maven Central has the server jar and the module jars, not a distribution with bin/elasticsearch.
// The module plugins are classes on our classpath, so they are handed to Node's protected constructor (the way
// Elasticsearch's own test clusters do it) instead of being loaded from a modules/ folder. This skips Bootstrap:
// no security manager, no bootstrap checks (a loopback-only development node), no JNA memory locking.
// SIGTERM (flockwatch down) runs the shutdown hook, which closes the node (flushes, releases the data lock).

import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.index.mapper.MapperExtrasPlugin;
import org.elasticsearch.join.ParentJoinPlugin;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.percolator.PercolatorPlugin;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.reindex.ReindexPlugin;
import org.elasticsearch.script.mustache.MustachePlugin;
import org.elasticsearch.search.aggregations.matrix.MatrixAggregationPlugin;
import org.elasticsearch.transport.Netty4Plugin;

public final class FlockwatchElasticsearch {
    private static final List<Class<? extends Plugin>> MODULES = Arrays.asList(
        Netty4Plugin.class,
        PercolatorPlugin.class,
        ParentJoinPlugin.class,
        MapperExtrasPlugin.class,
        MatrixAggregationPlugin.class,
        ReindexPlugin.class,
        MustachePlugin.class);

    private FlockwatchElasticsearch() {
    }

    /** A node whose plugins are the module classes above (Node's public constructor takes none). */
    static final class ClasspathNode extends Node {
        ClasspathNode(final Environment environment, final Collection<Class<? extends Plugin>> plugins) {
            super(environment, plugins, true);
        }
    }

    public static void main(final String[] args) throws Exception {
        final Settings.Builder builder = Settings.builder();
        for (final String arg : args) {
            final int eq = arg.indexOf('=');
            if (eq <= 0) {
                System.err.println("FlockwatchElasticsearch: expected key=value, got " + arg);
                System.exit(2);
            }
            builder.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        final Settings settings = builder.build();
        final String nodeName = settings.get("node.name", "flockwatch-1");
        final Environment environment = InternalSettingsPreparer.prepareEnvironment(
            settings, Collections.emptyMap(), null, () -> nodeName);
        final Node node;
        try {
            node = new ClasspathNode(environment, MODULES);
            node.start();
        } catch (final Exception | Error e) {
            e.printStackTrace();
            System.exit(1);
            return;
        }
        final CountDownLatch closed = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
                node.awaitClose(30, TimeUnit.SECONDS);
            } catch (final Exception e) {
                e.printStackTrace();
            } finally {
                closed.countDown();
            }
        }, "flockwatch-shutdown"));
        closed.await();
    }
}
