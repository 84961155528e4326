// Flockwatch launcher for a single Elasticsearch 8.x node from Maven Central jars, for the 8.x smoke test
// (tests/integration/store/test_elasticsearch8_smoke.py). Compiled with ClasspathPluginsService.java by javac
// (elasticsearch8_fetch in tests/integration/store/test_elasticsearch8_smoke.py) into
// infra/target/elasticsearch8-launcher/, then
//
//   java -cp 'infra/target/elasticsearch8-launcher:infra/target/elasticsearch8-libs/*' \
//       org.elasticsearch.node.FlockwatchElasticsearch8 key=value...
//
// Why compiled and in package org.elasticsearch.node: Elastic publishes the 8.x server jar but, among its modules,
// only transport-netty4, and not as a distribution with bin/elasticsearch. The only way to hand classpath plugins
// to an 8.x Node is NodeConstruction.prepareConstruction with a NodeServiceProvider whose newPluginService is
// overridden, and those are package-private in org.elasticsearch.node (a single-file source launch would define
// this class in another class loader, a different runtime package, so it could not reach them).
// Like the 7.17 launcher this skips Bootstrap: no entitlements, no bootstrap checks (a loopback-only test node),
// no native memory locking. Only Netty4Plugin is loaded: no x-pack (no security), no painless, no percolator,
// no reindex (update/delete_by_query), no analysis-common, no mapper-extras, no rest-root (`GET /` is a 404).
// SIGTERM runs the shutdown hook, which closes the node (flushes, releases the data lock).
package org.elasticsearch.node;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.ClasspathPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;
import org.elasticsearch.transport.netty4.Netty4Plugin;

public final class FlockwatchElasticsearch8 {
    private static final List<Class<? extends Plugin>> MODULES = List.of(Netty4Plugin.class);

    private FlockwatchElasticsearch8() {
    }

    /** The stock services, except that the plugins are the classpath classes in MODULES. */
    private static final class ClasspathServiceProvider extends NodeServiceProvider {
        private final Collection<Class<? extends Plugin>> plugins;

        ClasspathServiceProvider(final Collection<Class<? extends Plugin>> plugins) {
            this.plugins = plugins;
        }

        @Override
        PluginsService newPluginService(final Environment environment, final PluginsLoader pluginsLoader) {
            return new ClasspathPluginsService(environment, plugins);
        }
    }

    public static void main(final String[] args) throws Exception {
        // Bootstrap would do this: route org.elasticsearch.logging (used by the plugin loader) to log4j, which reads
        // -Dlog4j2.configurationFile (no LogConfigurator.configure: it wants a config dir of log4j2 files).
        LogConfigurator.configureESLogging();
        final Settings.Builder builder = Settings.builder();
        for (final String arg : args) {
            final int eq = arg.indexOf('=');
            if (eq <= 0) {
                System.err.println("FlockwatchElasticsearch8: expected key=value, got " + arg);
                System.exit(2);
            }
            builder.put(arg.substring(0, eq), arg.substring(eq + 1));
        }
        final Settings settings = builder.build();
        final String nodeName = settings.get("node.name", "flockwatch-es8-1");
        final Environment environment = InternalSettingsPreparer.prepareEnvironment(settings, Map.of(), null, () -> nodeName);
        final Node node;
        try {
            node = new Node(NodeConstruction.prepareConstruction(environment, null, new ClasspathServiceProvider(MODULES), true));
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
