/**
 * A squarified treemap (Bruls, Huizing & van Wijk, 2000) of the bundle by folder and file, laid out
 * at generation time so the page needs no script to show it.
 */

export interface TreeNode {
  name: string
  /** Archive path (`''` for the root). */
  path: string
  size: number
  files: number
  children?: TreeNode[]
}

export interface Rect { x: number; y: number; w: number; h: number }

export interface PlacedNode { node: TreeNode; rect: Rect; depth: number; isDir: boolean; label: string }

/** Folders and files from `{ path, size }` entries; sizes roll up, children sorted largest first. */
export function buildTree(entries: ReadonlyArray<{ path: string; size: number }>): TreeNode {
  const root: TreeNode = { name: '', path: '', size: 0, files: 0, children: [] }
  // Children by name ('/' marks folders): a folder of thousands of chunks must not be searched linearly.
  const index = new Map<TreeNode, Map<string, TreeNode>>()
  for (const entry of entries) {
    const parts = entry.path.split('/')
    let node = root
    node.size += entry.size
    node.files++
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1
      const key = last ? parts[i]! : `${parts[i]}/`
      let children = index.get(node)
      if (!children) index.set(node, (children = new Map()))
      let child = children.get(key)
      if (!child) {
        child = { name: parts[i]!, path: node.path ? `${node.path}/${parts[i]}` : parts[i]!, size: 0, files: 0, ...(last ? {} : { children: [] }) }
        children.set(key, child)
        node.children!.push(child)
      }
      child.size += entry.size
      child.files++
      node = child
    }
  }
  sortTree(root)
  return root
}

function sortTree(node: TreeNode): void {
  if (!node.children) return
  node.children.sort((a, b) => b.size - a.size || (a.path < b.path ? -1 : 1))
  for (const child of node.children) sortTree(child)
}

function worst(row: number[], side: number): number {
  const sum = row.reduce((a, b) => a + b, 0)
  const max = Math.max(...row)
  const min = Math.min(...row)
  const s2 = side * side
  const sum2 = sum * sum
  return Math.max((s2 * max) / sum2, sum2 / (s2 * min))
}

/** Places `areas` (already scaled to the rectangle's area, largest first) inside `rect`. */
export function squarify(areas: readonly number[], rect: Rect): Rect[] {
  const out: Rect[] = []
  let { x, y, w, h } = rect
  let i = 0
  while (i < areas.length) {
    const side = Math.min(w, h)
    if (side <= 0) {
      for (; i < areas.length; i++) out.push({ x, y, w: 0, h: 0 })
      break
    }
    const row = [areas[i]!]
    i++
    while (i < areas.length && worst([...row, areas[i]!], side) <= worst(row, side)) row.push(areas[i++]!)
    const sum = row.reduce((a, b) => a + b, 0)
    if (w >= h) {
      // Column on the left, items stacked vertically.
      const colW = h > 0 ? sum / h : 0
      let cy = y
      for (const area of row) {
        const ih = colW > 0 ? area / colW : 0
        out.push({ x, y: cy, w: colW, h: ih })
        cy += ih
      }
      x += colW
      w -= colW
    } else {
      const rowH = w > 0 ? sum / w : 0
      let cx = x
      for (const area of row) {
        const iw = rowH > 0 ? area / rowH : 0
        out.push({ x: cx, y, w: iw, h: rowH })
        cx += iw
      }
      y += rowH
      h -= rowH
    }
  }
  return out
}

export interface LayoutOptions {
  /** Height of a folder's title strip, when the folder is big enough to show it. */
  header: number
  padding: number
  /** Children whose box would be smaller than this many px² are merged into one "n smaller files" box. */
  minArea: number
}

const DEFAULTS: LayoutOptions = { header: 16, padding: 2, minArea: 36 }

/** Lays the tree out in `rect`, depth first; folders come before their contents (paint order). */
export function layoutTree(root: TreeNode, rect: Rect, options: Partial<LayoutOptions> = {}): PlacedNode[] {
  const o = { ...DEFAULTS, ...options }
  const placed: PlacedNode[] = []
  const visit = (node: TreeNode, r: Rect, depth: number) => {
    const children = (node.children ?? []).filter((c) => c.size > 0)
    if (children.length === 0) return
    const area = r.w * r.h
    if (area <= 0) return
    const scale = area / node.size
    // Tiny children merge into one box so a folder of 5,000 icons stays readable (and the page small).
    let kept = children.filter((c) => c.size * scale >= o.minArea)
    const small = children.filter((c) => c.size * scale < o.minArea)
    if (small.length === 1) kept = [...kept, small[0]!]
    else if (small.length > 1) {
      const size = small.reduce((n, c) => n + c.size, 0)
      const files = small.reduce((n, c) => n + c.files, 0)
      kept = [...kept, { name: `${small.length} smaller entries`, path: `${node.path ? node.path + '/' : ''}…`, size, files }]
    }
    const rects = squarify(kept.map((c) => c.size * scale), r)
    kept.forEach((child, i) => {
      const cr = rects[i]!
      const isDir = Boolean(child.children)
      placed.push({ node: child, rect: cr, depth, isDir, label: child.name })
      if (!isDir) return
      const showHeader = cr.h > o.header * 2.2 && cr.w > 40
      const inner: Rect = {
        x: cr.x + o.padding,
        y: cr.y + (showHeader ? o.header : o.padding),
        w: cr.w - 2 * o.padding,
        h: cr.h - (showHeader ? o.header : o.padding) - o.padding,
      }
      if (inner.w > 2 && inner.h > 2) visit(child, inner, depth + 1)
    })
  }
  visit(root, rect, 0)
  return placed
}
