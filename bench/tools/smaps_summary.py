#!/usr/bin/env python3
"""Resident memory of a process by kind of mapping, from /proc/PID/smaps
(issue 30, point 3). Usage: smaps_summary.py SMAPS_FILE"""
import sys, re, collections
# Summarise /proc/PID/smaps: Rss by kind of mapping.
def parse(path):
    maps=[]; cur=None
    for line in open(path):
        m=re.match(r'^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$', line)
        if m:
            cur={'start':int(m[1],16),'end':int(m[2],16),'perm':m[3],'name':m[4].strip(),'Rss':0,'Private_Dirty':0}
            maps.append(cur); continue
        k,_,v=line.partition(':')
        if cur is not None and k in ('Rss','Private_Dirty'):
            cur[k]=int(v.split()[0])
    return maps
maps=parse(sys.argv[1])
tot=collections.OrderedDict()
def add(k,v): tot[k]=tot.get(k,0)+v
for i,m in enumerate(maps):
    size=(m['end']-m['start'])//1024; n=m['name']; p=m['perm']
    if n.endswith('moobius-host'):
        kind = {'r-xp':'binary text (r-x)','r--p':'binary rodata/relro (r--)','rw-p':'binary data (rw-)'}.get(p,'binary '+p)
    elif n.startswith('/'):
        kind='shared libraries ('+n.split('/')[-1].split('.so')[0]+')'
    elif n=='[heap]': kind='[heap] (main arena, brk)'
    elif n=='[stack]': kind='main thread stack'
    elif n in ('[vdso]','[vvar]','[vsyscall]','[vvar_vclock]'): kind='vdso/vvar'
    else:
        # anonymous: thread stacks are preceded by a ---p guard of 4 KiB; malloc arenas are within 64 MiB reserved (rw + ---p rest)
        prev=maps[i-1] if i>0 else None
        if p=='rw-p' and prev and prev['perm']=='---p' and (prev['end']-prev['start'])==4096 and prev['end']==m['start']:
            kind='thread stacks (anon after a guard page)'
        elif p=='rw-p' and i+1<len(maps) and maps[i+1]['perm']=='---p' and maps[i+1]['start']==m['end'] and ((maps[i+1]['end']-m['start'])==64<<20 or (maps[i+1]['end']-m['start'])%(64<<20)==0):
            kind='malloc arenas (per-thread, 64 MiB reserved)'
        elif p=='---p': kind='reserved (---p)'
        else: kind='other anonymous (%s)'%p
    add(kind, m['Rss'])
print('%-50s %8s'%('mapping','Rss KiB'))
for k,v in sorted(tot.items(), key=lambda x:-x[1]):
    if v: print('%-50s %8d'%(k,v))
print('%-50s %8d'%('total',sum(tot.values())))
