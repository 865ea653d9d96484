// A read-only index over a graph: who produces and who consumes each tensor, which tensors are
// constants, and a structural element-type inference that needs no weights and no ORT session.
import { DataType, getAttr, onnx, toNumber } from './proto';

export interface Use {
  node: onnx.INodeProto;
  /** Input slot, or -1 for a tensor an If/Loop body reads from the enclosing scope. */
  index: number;
}

/** Outer-scope tensors read inside a node's subgraphs (If/Loop/Scan bodies name them implicitly). */
export function implicitInputs(n: onnx.INodeProto): string[] {
  const out = new Set<string>();
  for (const a of n.attribute ?? []) {
    for (const g of [a.g, ...(a.graphs ?? [])]) {
      if (!g) continue;
      const local = new Set<string>([
        ...(g.input ?? []).map((i) => i.name!),
        ...(g.initializer ?? []).map((i) => i.name!),
      ]);
      for (const sub of g.node ?? []) {
        for (const i of [...(sub.input ?? []), ...implicitInputs(sub)]) if (i && !local.has(i)) out.add(i);
        for (const o of sub.output ?? []) local.add(o);
      }
    }
  }
  return [...out];
}

export class GraphIndex {
  readonly producer = new Map<string, { node: onnx.INodeProto; index: number }>();
  readonly consumers = new Map<string, Use[]>();
  readonly consts = new Set<string>();
  readonly initializers = new Map<string, onnx.ITensorProto>();
  readonly declared = new Map<string, number>();
  readonly inputs: Set<string>;

  constructor(readonly graph: onnx.IGraphProto) {
    for (const t of graph.initializer ?? []) {
      this.consts.add(t.name!);
      this.initializers.set(t.name!, t);
      this.declared.set(t.name!, t.dataType ?? 0);
    }
    for (const vi of [...(graph.input ?? []), ...(graph.valueInfo ?? []), ...(graph.output ?? [])]) {
      const et = vi.type?.tensorType?.elemType;
      if (et) this.declared.set(vi.name!, et);
    }
    this.inputs = new Set((graph.input ?? []).map((i) => i.name!).filter((n) => !this.consts.has(n)));
    for (const n of graph.node ?? []) {
      (n.output ?? []).forEach((o, index) => o && this.producer.set(o, { node: n, index }));
      const inputs = [...(n.input ?? []), ...implicitInputs(n)];
      inputs.forEach((i, index) => {
        if (!i) return;
        const list = this.consumers.get(i) ?? [];
        list.push({ node: n, index: index < (n.input?.length ?? 0) ? index : -1 });
        this.consumers.set(i, list);
      });
      if (n.opType === 'Constant' && !n.domain) n.output?.forEach((o) => this.consts.add(o));
    }
  }

  uses(tensor: string): Use[] {
    return this.consumers.get(tensor) ?? [];
  }

  /** Element type of a tensor from declarations or from its producer, without shape inference. */
  elemType(tensor: string, seen = new Set<string>()): number | undefined {
    const declared = this.declared.get(tensor);
    if (declared) return declared;
    if (seen.has(tensor)) return undefined;
    seen.add(tensor);
    const p = this.producer.get(tensor);
    if (!p) return undefined;
    const n = p.node;
    switch (n.opType) {
      case 'Cast':
        return toNumber(getAttr(n, 'to')?.i as number);
      case 'DequantizeLinear':
        return this.elemType(n.input![1], seen);
      case 'Constant': {
        const t = getAttr(n, 'value')?.t;
        return t?.dataType ?? undefined;
      }
      case 'Shape':
      case 'Size':
        return DataType.INT64;
      case 'Gather':
      case 'GatherElements':
      case 'GatherND':
        return this.elemType(n.input![0], seen);
      case 'GatherBlockQuantized':
        return this.elemType(n.input![2], seen); // scales carry the float type
      case 'MatMulInteger':
        return DataType.INT32;
      case 'DynamicQuantizeLinear':
        return p.index === 1 ? DataType.FLOAT : DataType.UINT8;
      default:
        for (const i of n.input ?? []) {
          if (!i) continue;
          const t = this.elemType(i, seen);
          if (t) return t;
        }
        return undefined;
    }
  }

  /** Forward reachability over consumers, from any of the start tensors. */
  reaches(starts: string[], target: string, limit = Infinity): boolean {
    const seen = new Set<string>(starts);
    const queue = [...starts];
    while (queue.length > 0) {
      const t = queue.shift()!;
      if (t === target) return true;
      if (seen.size > limit) return false;
      for (const { node } of this.uses(t)) {
        for (const o of node.output ?? []) {
          if (o && !seen.has(o)) {
            seen.add(o);
            queue.push(o);
          }
        }
      }
    }
    return false;
  }
}
