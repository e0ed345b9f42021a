"""The package's shape: its import graph has no cycle (imports inside functions included), and
its layers run one way: models, losses, data and evaluators below families, families below the
trainer, the trainer below the command-line entry points."""

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'gan_jax'


def _modules():
  out = {}
  for path in PACKAGE.rglob('*.py'):
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    if parts[-1] == '__init__':
      parts = parts[:-1]
    out['.'.join(parts)] = path
  return out


def _imports(path, modules):
  """The package modules that `path` imports anywhere in its code."""
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names if a.name in modules}
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      if not node.module.startswith('gan_jax'):
        continue
      for alias in node.names:  # `from pkg import mod` imports the module pkg.mod
        name = f'{node.module}.{alias.name}'
        found.add(name if name in modules else node.module)
  return found


def _graph():
  modules = _modules()
  return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def _cycle(graph):
  """A cycle as a list of modules, or None."""
  state, stack = {}, []

  def visit(node):
    state[node] = 'open'
    stack.append(node)
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == 'open':
        return stack[stack.index(nxt):] + [nxt]
      if nxt not in state:
        found = visit(nxt)
        if found:
          return found
    state[node] = 'done'
    stack.pop()
    return None

  for node in sorted(graph):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return None


def test_the_import_graph_has_no_cycle():
  graph = _graph()
  assert len(graph) > 40
  assert _cycle(graph) is None, ' -> '.join(_cycle(graph))


def test_the_cycle_finder_finds_cycles():
  assert _cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
  assert _cycle({'a': {'b'}, 'b': set()}) is None


def _reaches(graph, start):
  seen, todo = set(), [start]
  while todo:
    for nxt in graph.get(todo.pop(), ()):
      if nxt not in seen:
        seen.add(nxt)
        todo.append(nxt)
  return seen


def test_layers_import_downwards_only():
  graph = _graph()
  entry_points = {'gan_jax.main', 'gan_jax.sample', 'gan_jax.evaluate', 'gan_jax.classifier',
                  'gan_jax.reproduce'}
  bottom = {'gan_jax.models', 'gan_jax.losses', 'gan_jax.penalties', 'gan_jax.data',
            'gan_jax.steps', 'gan_jax.state', 'gan_jax.optim', 'gan_jax.evaluators.registry',
            'gan_jax.evaluators.metrics', 'gan_jax.evaluators.evaluator'}
  for module in bottom:
    below = _reaches(graph, module)
    upper = {'gan_jax.families', 'gan_jax.train', 'gan_jax.runs'} | entry_points
    assert not below & upper, (module, sorted(below & upper))
  # Families know nothing of the trainer; the trainer nothing of the commands.
  assert not _reaches(graph, 'gan_jax.families') & ({'gan_jax.train', 'gan_jax.runs'}
                                                     | entry_points)
  assert not _reaches(graph, 'gan_jax.train') & entry_points
  # ...and the trainer never names a family's module.
  assert not {m for m in graph['gan_jax.train'] if m.startswith('gan_jax.families.')}
