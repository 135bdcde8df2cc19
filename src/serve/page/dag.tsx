/**
 * A run's plan as a graph: dagre lays the steps out (left to right, dependencies first);
 * each node is coloured by its step's state and selects the step when clicked.
 */
import { Graph, layout } from '@dagrejs/dagre';
import { useMemo } from 'preact/hooks';
import type { RunView } from './api.js';

const NODE_WIDTH = 210;
const NODE_HEIGHT = 52;

interface Placed {
  readonly id: string;
  readonly x: number;
  readonly y: number;
}

function place(view: RunView): {
  nodes: Placed[];
  edges: Array<{ from: string; to: string; points: string }>;
  width: number;
  height: number;
} {
  const graph = new Graph();
  graph.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 44, marginx: 8, marginy: 8 });
  graph.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(view.steps.map((step) => step.id));
  for (const step of view.steps) graph.setNode(step.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const step of view.steps) {
    for (const dependency of step.dependsOn) if (ids.has(dependency)) graph.setEdge(dependency, step.id);
  }
  layout(graph);
  const nodes = view.steps.map((step) => {
    const node = graph.node(step.id);
    return { id: step.id, x: node.x - NODE_WIDTH / 2, y: node.y - NODE_HEIGHT / 2 };
  });
  const edges = graph.edges().map((edge) => ({
    from: edge.v,
    to: edge.w,
    points: (graph.edge(edge).points ?? [])
      .map((point: { x: number; y: number }) => `${point.x},${point.y}`)
      .join(' '),
  }));
  const label = graph.graph();
  return {
    nodes,
    edges,
    width: Math.max(label.width ?? 0, NODE_WIDTH),
    height: Math.max(label.height ?? 0, NODE_HEIGHT),
  };
}

export function Dag(props: { view: RunView; selected?: string; onSelect: (stepId: string) => void }) {
  const { view } = props;
  const shape = useMemo(() => place(view), [view]);
  const steps = new Map(view.steps.map((step) => [step.id, step]));
  return (
    <div class="dag" role="figure" aria-label="the run's steps and their dependencies">
      <svg viewBox={`0 0 ${shape.width} ${shape.height}`} width={shape.width} height={shape.height}>
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 8 8"
            refX="7"
            refY="4"
            markerWidth="7"
            markerHeight="7"
            orient="auto"
          >
            <path d="M0,0 L8,4 L0,8 z" class="arrowhead" />
          </marker>
        </defs>
        {shape.edges.map((edge) => (
          <polyline
            key={`${edge.from}>${edge.to}`}
            class="edge"
            points={edge.points}
            marker-end="url(#arrow)"
          />
        ))}
        {shape.nodes.map((node) => {
          const step = steps.get(node.id)!;
          return (
            <g
              key={node.id}
              class={`node s-${step.state}${props.selected === node.id ? ' selected' : ''}`}
              transform={`translate(${node.x},${node.y})`}
              data-step={node.id}
              tabIndex={0}
              role="button"
              aria-label={`step ${node.id}: ${step.state}`}
              onClick={() => props.onSelect(node.id)}
              onKeyDown={(event) => {
                if (event.key === 'Enter' || event.key === ' ') props.onSelect(node.id);
              }}
            >
              <title>{`${step.title}\n${step.action?.summary ?? step.kind}`}</title>
              <rect width={NODE_WIDTH} height={NODE_HEIGHT} rx="7" />
              <text x="10" y="21" class="node-id">
                {step.id.length > 20 ? `${step.id.slice(0, 19)}…` : step.id}
              </text>
              <text x="10" y="39" class="node-state">
                {`${step.kind} · ${step.state}${step.attempt > 1 ? ` #${step.attempt}` : ''}`}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
