// Part of the Flockwatch Elasticsearch 8.x launcher (see FlockwatchElasticsearch8.java): a PluginsService whose
// plugins are classes already on the classpath. It lives in org.elasticsearch.plugins because the list of loaded
// plugins (PluginsService.LoadedPlugin) and loadPlugin/loadExtensions are package-private there; this is what the
// test framework's MockPluginsService does, without the test framework (whose MockNode refuses to run as root).
package org.elasticsearch.plugins;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.elasticsearch.Build;
import org.elasticsearch.env.Environment;

public final class ClasspathPluginsService extends PluginsService {
    private final List<LoadedPlugin> classpathPlugins;

    public ClasspathPluginsService(final Environment environment, final Collection<Class<? extends Plugin>> plugins) {
        // No module or plugin bundles: nothing is loaded from path.home/modules or path.home/plugins, and no
        // qualified exports of a server module (on the classpath the server jar is not a named module).
        super(environment.settings(), environment.configDir(), PluginsLoader.createPluginsLoader(Set.of(), Set.of(), Map.of(), false));
        final List<LoadedPlugin> loaded = new ArrayList<>();
        for (final Class<? extends Plugin> pluginClass : plugins) {
            final Plugin plugin = loadPlugin(pluginClass, environment.settings(), environment.configDir());
            final PluginDescriptor descriptor = new PluginDescriptor(
                pluginClass.getName(),
                "classpath plugin",
                Build.current().version(),
                Build.current().version(),
                Integer.toString(Runtime.version().feature()),
                pluginClass.getName(),
                null,
                List.of(),
                false,
                false,
                false,
                false);
            loaded.add(new LoadedPlugin(descriptor, plugin, ClasspathPluginsService.class.getClassLoader()));
        }
        loadExtensions(loaded);
        this.classpathPlugins = List.copyOf(loaded);
    }

    @Override
    protected List<LoadedPlugin> plugins() {
        return classpathPlugins;
    }
}
